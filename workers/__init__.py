"""Dramatiq workers: the broker set-up, the actors (thin), and their boot module `workers.app`."""
