"""Stack programs: the AWS layer and the in-cluster layer, wired from components (`platform.main`)."""
