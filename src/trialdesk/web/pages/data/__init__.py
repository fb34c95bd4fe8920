"""The data manager's pages: load a protocol, sites, users and roles, tokens, lock, the audit
trail.
"""
