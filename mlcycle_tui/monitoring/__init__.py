"""Monitoring: drift checks of deployed models, their policy, reports and decay."""
