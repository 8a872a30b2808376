"""Shared pieces for the real-Envoy suites: an upstream that records what reaches it, an Envoy runner,
and token fixtures made with PyJWT (an implementation independent of Gatehouse's own)."""
