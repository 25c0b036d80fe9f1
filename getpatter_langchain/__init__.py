"""LangChain tools for Patter."""
