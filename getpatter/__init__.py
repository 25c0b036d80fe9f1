"""Patter: put AI agents on real phone calls, and give other agents the phone as a tool."""
