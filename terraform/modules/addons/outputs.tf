output "releases" {
  description = "Installed Helm releases: name => namespace/chart@version."
  value = {
    for r in concat([helm_release.load_balancer_controller, helm_release.keda, helm_release.cluster_autoscaler], helm_release.external_dns) :
    r.name => "${r.namespace}/${r.chart}@${r.version}"
  }
}

output "metrics_server_version" {
  description = "Version of the metrics-server add-on."
  value       = aws_eks_addon.metrics_server.addon_version
}

output "controllers" {
  description = "Each controller's Deployment (namespace/name) and the Kubernetes API groups and IngressClasses it serves; `envctl up` checks them before it applies anything."
  value = merge({
    # The EKS add-on's Deployment serves the metrics.k8s.io APIService.
    metrics-server = {
      deployments     = ["kube-system/metrics-server"]
      api_services    = ["v1beta1.metrics.k8s.io"]
      api_groups      = []
      ingress_classes = []
      installed_by    = "aws_eks_addon.metrics_server"
    }
    aws-load-balancer-controller = {
      deployments     = ["${helm_release.load_balancer_controller.namespace}/${helm_release.load_balancer_controller.name}"]
      api_services    = []
      api_groups      = ["elbv2.k8s.aws"]
      ingress_classes = ["alb"]
      installed_by    = "helm_release.load_balancer_controller"
    }
    # The chart names its Deployments keda-operator and keda-operator-metrics-apiserver
    # (the latter serves external.metrics.k8s.io, which the worker's HPA reads).
    keda = {
      deployments = [
        "${helm_release.keda.namespace}/keda-operator",
        "${helm_release.keda.namespace}/keda-operator-metrics-apiserver",
      ]
      api_services    = ["v1beta1.external.metrics.k8s.io"]
      api_groups      = ["keda.sh"]
      ingress_classes = []
      installed_by    = "helm_release.keda"
    }
    cluster-autoscaler = {
      deployments     = ["${helm_release.cluster_autoscaler.namespace}/cluster-autoscaler"]
      api_services    = []
      api_groups      = []
      ingress_classes = []
      installed_by    = "helm_release.cluster_autoscaler"
    }
    },
    # Only where external-dns is installed (var.external_dns).
    { for name, c in {
      external-dns = {
        deployments     = ["kube-system/external-dns"]
        api_services    = []
        api_groups      = []
        ingress_classes = []
        installed_by    = "helm_release.external_dns"
      }
    } : name => c if var.external_dns != null },
  )
}
