"""Record, replay and compare Realtime sessions: where traffic, the mock, the live API and the SDK's
schemas disagree."""
