"""SSH tunnel mode at run time: the keeper that holds tunnels across replicas and the link that
keeps one SSH connection with its reverse forward up."""
