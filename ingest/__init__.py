"""The ingestion edge: components outside Beam that put live complaints on the topics (replay of channel
files, the web-form HTTP endpoint, the X filtered-stream connector)."""
