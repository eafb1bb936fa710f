"""The RQ job functions, by import path: producers enqueue them without importing the services
that run them."""

INFERENCE_FUNC = "services.inference.job.run_inference"
POSTPROC_FUNC = "services.postproc.job.run_checks_job"
VOTE_FUNC = "services.postproc.job.run_vote_job"
