"""Date formats of the web app where Django's defaults do not suit a trial (`FORMAT_MODULE_PATH`).

English pages show dates as ISO 8601 (2026-03-15) and times on the 24-hour clock: Django's
English formats are American (03/15/2026, 10:29 a.m.), which a site in Denmark or China, or
a monitor reading source documents, would misread. Danish and Chinese keep Django's own.
"""
