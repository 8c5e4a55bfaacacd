"""``pbs``, ``sge``, ``lsf``: batch jobs through dask-jobqueue, with its generic submission and
cancelling by job id (``clusters.jobqueue``). Not tested against a real queue here; SLURM, which
takes the same path, is."""

from sbc_helpers.run.clusters.jobqueue import Jobqueue

KINDS = [Jobqueue("pbs", "PBS", "PBSCluster", order=2), Jobqueue("sge", "SGE", "SGECluster", order=3),
         Jobqueue("lsf", "LSF", "LSFCluster", order=4)]
