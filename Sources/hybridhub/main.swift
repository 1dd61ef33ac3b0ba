print("hybridhub")
