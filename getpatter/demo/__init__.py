"""What ``getpatter demo`` runs: a simulated phone call (default) or a text call you type."""
