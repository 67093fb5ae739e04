"""Running a task: prepare, back up, execute steps, finalize; schedules."""
