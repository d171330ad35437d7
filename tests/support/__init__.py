"""Shared test utilities (the fake OpenAI-compatible LLM server)."""
