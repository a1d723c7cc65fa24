"""The levers on a job, pulled by operators, CA callbacks and the periodic daemons.

Admission, replay and cancel, resume (the CA's and the third party's), rollback and its
undo steps, renewal and its policy, and the daemons that pull levers on a schedule:
the poller, the sweeper and the scheduler.
"""
