"""HAQ's library: environments (``env``), the DDPG agent (``rl``), quantizers and data (``utils``), latency
tables (``simulator``). Module paths follow the original repository's ``lib/`` tree."""
