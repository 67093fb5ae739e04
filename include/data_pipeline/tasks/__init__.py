"""Tasks: the task store, ids, migrations, parameters, the task log and maintenance."""
