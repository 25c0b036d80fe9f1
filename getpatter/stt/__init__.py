"""stt providers: see base.py for the protocol every provider implements."""
