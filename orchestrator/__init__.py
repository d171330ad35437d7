"""The orchestrator: the study loop and everything a user talks to (CLI, config, LLM, journal, reports).

It holds the LLM key and the Redis password, never imports or executes generated code, and
never holds the Docker socket (DESIGN §2).
"""
