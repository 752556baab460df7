"""DDPG agent and replay memory of HAQ (spec haq.md section 3.7)."""
