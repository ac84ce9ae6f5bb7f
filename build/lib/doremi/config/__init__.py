"""Configuration, the ground floor of the package: every setting's type, default, range and doc (the schema,
registered with Hydra), the checks run at the door before any stage starts, the one exception users see
(`errors`) and the package version.

May import nothing of doremi but itself: every other folder reads its settings, raises its errors and reads
the version from here. The methods' own sections live in their folders (doremi.methods) and join the schema
through the registry when `doremi` is imported.
"""
