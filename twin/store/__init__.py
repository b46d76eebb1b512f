"""The measurement and record store (SQLite by default, PostgreSQL by URL): readings, plans, audit
log, parameters and alarms.
"""
