// Test support library (real redis-server processes, clients, comparison, tool runner).
