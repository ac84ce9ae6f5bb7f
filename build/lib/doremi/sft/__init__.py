"""LIMA-style SFT sets: pools of instruction data, the fixed dev set, filters, dedup, scoring and fine-tuning,
and the SFT set methods behind one seam (`sft.methods`: one module each and one registry entry).

May import: doremi.config, doremi.data, doremi.store, doremi.training, doremi.methods.doremi (Group DRO
quotas). Never a stage."""
