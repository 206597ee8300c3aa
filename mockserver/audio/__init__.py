"""Audio formats of the Realtime API: PCM16 and G.711 conversion, resampling and durations."""
