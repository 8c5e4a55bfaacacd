"""Where a batch cluster's scheduler and workers listen, as set in the options sbc gives dask-jobqueue."""


def _options(**settings) -> dict:
    from sbc_helpers.run.clusters import KINDS

    return KINDS["pbs"].options(settings, "sbc-test")


def test_the_users_choice_of_addresses_replaces_sbcs():
    """By default sbc places the scheduler on one address and each worker on its node's route to it;
    a jobqueue `interface`, a scheduler host, or the user's own worker address arguments win."""
    from distributed.utils import get_ip

    chosen = _options()
    assert chosen["scheduler_options"]["host"] == get_ip()
    assert chosen["worker_extra_args"][-2:] == ["--host", '"$SBC_WORKER_HOST"']

    interface = _options(interface="lo")
    assert interface["interface"] == "lo" and "host" not in interface["scheduler_options"]
    assert "--host" not in interface["worker_extra_args"]
    assert not any("SBC_WORKER_HOST" in line for line in interface["job_script_prologue"])

    scheduler = _options(scheduler_options={"host": "10.1.2.3"})
    assert scheduler["scheduler_options"]["host"] == "10.1.2.3"
    assert scheduler["job_script_prologue"][-1].endswith(" 10.1.2.3)")

    for own in (["--host", "10.9.9.9"], ["--interface=ib0"]):
        workers = _options(worker_extra_args=own)
        assert workers["worker_extra_args"] == ["--dashboard-address", "127.0.0.1:0", *own]
        assert not any("SBC_WORKER_HOST" in line for line in workers["job_script_prologue"])
