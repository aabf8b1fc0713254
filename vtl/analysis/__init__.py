"""Task-transfer maths and analysis (no torch imports here).

pgf (the formula and transfer.jsonl fields), io (inputs -> long DataFrame), matrix (PGF matrices per label),
metrics (transferability, malleability), cliques (graphs, cliques, Wilcoxon), personas, groups (level/granularity,
scale trends), curves (transfer curves, selection arms), plots, report, analysis (`analyze`, behind `vtl analyze`),
select (PGF-guided mixture specs, behind `vtl select`).
"""
