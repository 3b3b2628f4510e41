"""Training many models at once, on this machine (a process pool) or on a Slurm cluster (job arrays through
submitit): ``train_many(jobs, executor=...)``, one call for ``probe run`` and the analyses that train."""
from probe.jobs.job import TrainJob, run_job, same_train_config
from probe.jobs.slurm import SlurmConfig, check_slurm
from probe.jobs.executor import EXECUTORS, Executor, check_executor, train_many  # isort: skip (imports the above)

__all__ = ["EXECUTORS", "Executor", "SlurmConfig", "TrainJob", "check_executor", "check_slurm", "run_job",
           "same_train_config", "train_many"]
