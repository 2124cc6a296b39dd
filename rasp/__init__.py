"""RASP: the Restricted Access Sequence Processing language, parsed, checked and run."""
