"""Visit forms from the instrument definitions: entry, live checks, drafts, completion, item
history.
"""
