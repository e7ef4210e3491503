/** Word lists the generators draw from; plausible ITSM data, not random strings. */

export const FIRST_NAMES = [
  "Abel", "Ada", "Alan", "Alice", "Amir", "Ana", "Ben", "Beth", "Carlos", "Chen", "Chloe", "Dana", "David",
  "Elena", "Emma", "Erik", "Fatima", "Felix", "Grace", "Hana", "Hugo", "Ines", "Ivan", "James", "Jin", "Julia",
  "Karim", "Kate", "Lars", "Leila", "Liam", "Lucia", "Marco", "Maria", "Mei", "Nadia", "Noah", "Olga", "Omar",
  "Paula", "Priya", "Quinn", "Rafael", "Rosa", "Sam", "Sofia", "Tariq", "Uma", "Victor", "Yuki"
] as const

export const LAST_NAMES = [
  "Tuter", "Smith", "Garcia", "Nguyen", "Kowalski", "Okafor", "Rossi", "Schmidt", "Tanaka", "Silva", "Novak",
  "Larsen", "Haddad", "Kim", "Dubois", "Moreau", "Ivanova", "Jensen", "Patel", "Santos", "Meyer", "Costa",
  "Brown", "Wilson", "Lopez", "Fischer", "Yilmaz", "Andersen", "Murphy", "Kaur", "Rahman", "Weber", "Nakamura",
  "Fernandez", "Horvat", "Lindqvist", "Mensah", "Petrov", "Quinn", "Reyes", "Sato", "Torres", "Vogel", "Walsh",
  "Young", "Zhang", "Bauer", "Cohen", "Eriksen", "Gomez"
] as const

export const CITIES = [
  "London", "New York", "San Diego", "Amsterdam", "Berlin", "Paris", "Madrid", "Tokyo", "Singapore", "Sydney",
  "Toronto", "Chicago", "Dublin", "Warsaw", "Bangalore", "Sao Paulo"
] as const

export const TITLES = [
  "Service Desk Analyst", "Network Engineer", "Database Administrator", "System Administrator",
  "Application Developer", "IT Manager", "Change Manager", "Problem Manager", "Site Reliability Engineer",
  "Security Analyst", "Business Analyst", "Help Desk Technician", "Cloud Architect", "Storage Engineer"
] as const

export const GROUP_NAMES = [
  "Service Desk", "Network", "Database", "Hardware", "Software", "Linux Admins", "Windows Admins", "Storage",
  "Cloud Platform", "Security Operations", "Change Management", "Problem Management", "Application Support",
  "Identity and Access", "End User Computing", "Middleware", "Telecom", "Data Center", "Monitoring", "ERP Support"
] as const

export const GROUP_DESCRIPTIONS = [
  "First line support for all users", "Owns the corporate network", "Runs the production databases",
  "Looks after servers and storage", "Second line application support", "On-call rota, follow the sun",
  "Handles escalations from the service desk"
] as const

export const CI_CLASSES = [
  "cmdb_ci_server",
  "cmdb_ci_app_server",
  "cmdb_ci_database",
  "cmdb_ci_service",
  "cmdb_ci_netgear"
] as const

export const CI_CLASS_LABELS: Readonly<Record<string, string>> = {
  cmdb_ci_server: "Server",
  cmdb_ci_app_server: "Application Server",
  cmdb_ci_database: "Database",
  cmdb_ci_service: "Service",
  cmdb_ci_netgear: "IP Switch"
}

export const CI_PREFIX: Readonly<Record<string, string>> = {
  cmdb_ci_server: "srv",
  cmdb_ci_app_server: "app",
  cmdb_ci_database: "db",
  cmdb_ci_service: "svc",
  cmdb_ci_netgear: "sw"
}

export const CI_ROLES = [
  "payroll", "crm", "email", "erp", "billing", "web", "auth", "search", "reporting", "inventory", "hr", "vpn"
] as const

export const INCIDENT_SUBJECTS = [
  "Unable to connect to %ci%", "%ci% is responding slowly", "Error 500 when opening %ci%", "Cannot log in to %ci%",
  "Disk almost full on %ci%", "High CPU on %ci%", "Backup failed for %ci%", "Users report timeouts on %ci%",
  "Certificate expiring on %ci%", "Printer on floor 3 not printing", "Email not syncing on mobile",
  "Password reset request", "VPN drops every few minutes", "Laptop will not boot", "Request for new monitor"
] as const

export const CHANGE_SUBJECTS = [
  "Patch operating system on %ci%", "Upgrade %ci% to the next release", "Rotate certificates on %ci%",
  "Increase disk on %ci%", "Restart %ci% during maintenance window", "Migrate %ci% to new cluster",
  "Apply firewall rule for %ci%", "Decommission %ci%"
] as const

export const PROBLEM_SUBJECTS = [
  "Recurring outages of %ci%", "Memory leak suspected in %ci%", "Intermittent packet loss near %ci%",
  "Slow queries on %ci%", "Repeated failed backups of %ci%"
] as const

export const EVENT_SOURCES = ["Prometheus", "SolarWinds", "Nagios", "Dynatrace", "SCOM", "Zabbix"] as const
export const EVENT_TYPES = ["CPU", "Memory", "Disk", "Ping", "HTTP", "Latency", "Process"] as const
export const EVENT_RESOURCES = ["cpu0", "/var", "/", "eth0", "heap", "api", "port 443", "queue"] as const
