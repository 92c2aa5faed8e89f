"""Documents for regulators, inspectors and sites: the audit export, CDISC ODM, casebooks and
certified copies."""
