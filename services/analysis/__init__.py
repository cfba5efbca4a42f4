"""Analysis: a session lap by lap (lap chart, race trace, lap times), stint by stint, and the facts the official
documents print; pure, over the classification fold's state."""
