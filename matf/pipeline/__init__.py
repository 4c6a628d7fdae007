"""What each agent does for a run: one domain entry point per step.

A Celery task in ``tasks/`` decodes its message, opens what it needs and calls
one function here; everything here runs (and is tested) without Celery:

- ``fanout.plan_fan_out``: the executor jobs of a run (pure);
- ``execute.execute``: one job, healing included;
- ``write.write_run``: explore the target and store the specs written for it;
- ``report.collect_results`` and ``report.publish_reports``: the reporter's two halves.
"""
