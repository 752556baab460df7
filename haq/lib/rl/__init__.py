"""DDPG agent and replay memory of HAQ (docs/haq.md section 3.7)."""
