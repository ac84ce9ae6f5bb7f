"""Statistics and judging: paired per-document differences, simultaneous intervals and the one-sided
Holm decision (verdict, family), the one place a compare decides (decide), and the simulator that tests
every promise on that same path (simulate).

Pure NumPy/SciPy; may import nothing of doremi but itself.
"""
