//! Every metric name our pipeline emits, as Prometheus holds it: the one list dashboards are checked against.
