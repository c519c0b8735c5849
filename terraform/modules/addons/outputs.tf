output "releases" {
  description = "Installed Helm releases: name => namespace/chart@version."
  value = {
    for r in [helm_release.load_balancer_controller, helm_release.keda, helm_release.cluster_autoscaler] :
    r.name => "${r.namespace}/${r.chart}@${r.version}"
  }
}

output "metrics_server_version" {
  description = "Version of the metrics-server add-on."
  value       = aws_eks_addon.metrics_server.addon_version
}
