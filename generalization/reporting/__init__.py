"""What a run or a sweep leaves behind, and the pages made from it.

* `results.py`: the results format, `results.json` and `sweep.json`, as typed records (the one
  definition; `records.py` reads and writes such records);
* `summary.py`: statistics over length ranges;
* `document.py`: documents as blocks, rendered as markdown and self-contained HTML;
* `report.py`: the report of one run; `study.py`: the study page of a sweep; `plots.py`.
"""
