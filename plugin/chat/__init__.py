"""The chat door: the MCP server and the function-calling tool catalog for assistants."""
