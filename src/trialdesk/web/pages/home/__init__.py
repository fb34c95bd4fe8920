"""The start page, and a study's home: the subject matrix and the work list."""
