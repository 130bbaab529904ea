"""Operating a deployed stack: ``diff`` (what a change would do, offline), ``verify`` (does the
cluster give pods what the plan asked), ``doctor`` (what is wrong with secondary networking).

The deciding logic is pure (:mod:`.diff`, :mod:`.attachments`, :mod:`.probes`,
:mod:`.sandbox`, :mod:`.scheduling`, :mod:`.ipam_state`, :mod:`.doctor`); reading git
(:mod:`.revisions`) and the cluster (:mod:`.live`) are thin layers around it.
"""
