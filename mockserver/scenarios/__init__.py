"""Scenario files: script what the mock "model" answers (see `scenario.schema.json` for the format).

    scenario = load_scenario("fixtures/tool_agent.yaml")
    responder = ScenarioResponder(scenario)  # one per session: it counts which rules answered
"""

from mockserver.scenarios.engine import (
    ALWAYS_AVAILABLE,
    Rule,
    Scenario,
    ScenarioResponder,
    When,
    build_reply,
)
from mockserver.scenarios.loader import (
    ScenarioError,
    builtin_default,
    load_builtin,
    load_scenario,
    parse_scenario,
    scenario_schema,
)

__all__ = [
    "ALWAYS_AVAILABLE",
    "Rule",
    "Scenario",
    "ScenarioError",
    "ScenarioResponder",
    "When",
    "build_reply",
    "builtin_default",
    "load_builtin",
    "load_scenario",
    "parse_scenario",
    "scenario_schema",
]
