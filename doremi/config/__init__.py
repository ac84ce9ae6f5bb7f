"""Configuration: every setting's type, default, range and doc (the schema, registered with Hydra),
and the checks run at the door before any stage starts.

May import: doremi.errors. Nothing else of doremi: every other folder reads its settings from here.
The methods' own sections live in their folders (doremi.methods) and join the schema through the
registry when `doremi` is imported.
"""
