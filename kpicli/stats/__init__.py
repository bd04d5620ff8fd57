"""Statistics over a report's small result frames: anomalies (:mod:`.anomaly`), the
significance of a change (:mod:`.change`) and trends (:mod:`.trend`).

Pure functions of frames already aggregated (one row per KPI × bucket × dimension values),
never of the data's rows. They import nothing of kpi; numpy and scipy are imported inside
the functions that need them, so that `kpi --help` and a report that asks for none of this
start without them.
"""
