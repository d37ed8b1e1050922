<#
Boots one Windows fleet instance as bootstrap/linux/bootstrap.sh does a Linux one: registers a
polling Tentacle, completes the launch hook once the app is healthy (CONTINUE) or not (ABANDON),
and starts the termination watch (-WatchTermination), which deletes the machine from Octopus
when Auto Scaling terminates the instance. Safe to run again.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][string] $SettingsPath,
    [switch] $WatchTermination
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0
$ProgressPreference = 'SilentlyContinue'
[Net.ServicePointManager]::SecurityProtocol = [Net.SecurityProtocolType]::Tls12

$StateDir = Join-Path $env:ProgramData 'Phoenix'
$LogFile = Join-Path $StateDir 'bootstrap.log'
$TentacleExe = Join-Path $env:ProgramFiles 'Octopus Deploy\Tentacle\Tentacle.exe'
$TentacleInstance = 'Tentacle'
$TentacleHome = 'C:\Octopus'
$Imds = 'http://169.254.169.254/latest'
$ServerCommsPort = '10943'
$WatchTask = 'phoenix-deregister'
$RequiredSettings = @('ServerUrl', 'Space', 'Environment', 'Roles', 'Tenant', 'MachinePolicy',
    'RegistrationKeyParameter', 'HealthUrl', 'HealthTimeoutSeconds', 'HealthIntervalSeconds',
    'LifecycleHookName', 'TerminationHookName', 'AsgName', 'Region', 'InfrastructureVersion', 'TentaclePackageSource',
    'MachineNamePrefix', 'HealthyStatusCodes', 'HeartbeatIntervalSeconds')

$script:Step = 'start'
$script:Settings = $null
$script:InstanceId = ''
$script:Region = ''
$script:RegistrationKey = ''
$script:LastHeartbeat = $null

# One timestamped line to the console and the log file; the key is masked even if a tool echoes it.
function Write-Log([string] $Message) {
    $text = $Message
    if ($script:RegistrationKey) { $text = $text.Replace($script:RegistrationKey, '[redacted]') }
    $line = '{0} [{1}] {2}' -f [DateTime]::UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'"), $script:Step, $text
    Add-Content -LiteralPath $LogFile -Value $line -Encoding UTF8
    Write-Host $line
}

function Enter-Step([string] $Name) {
    $script:Step = $Name
    Write-Log 'begin'
    Send-Heartbeat
}

# Restarts the launch hook's timeout at most once per interval; never fatal.
function Send-Heartbeat {
    $s = $script:Settings
    $last = $script:LastHeartbeat
    if (-not $script:InstanceId -or ($last -and ([DateTime]::UtcNow - $last).TotalSeconds -lt $s.HeartbeatIntervalSeconds)) {
        return
    }
    $script:LastHeartbeat = [DateTime]::UtcNow
    try {
        Write-ASLifecycleActionHeartbeat -AutoScalingGroupName $s.AsgName -LifecycleHookName $s.LifecycleHookName `
            -InstanceId $script:InstanceId -Region $script:Region -Force | Out-Null
        Write-Log 'recorded a lifecycle heartbeat'
    }
    catch { Write-Log "WARNING: the heartbeat failed: $($_.Exception.Message)" }
}

# Runs a program and logs its output, never its arguments (they may hold the key).
function Invoke-Logged([string] $FilePath, [string[]] $Arguments) {
    $previous = $ErrorActionPreference
    $ErrorActionPreference = 'Continue'   # a native program's stderr is output here, not an error
    try {
        $output = & $FilePath @Arguments 2>&1
        $code = $LASTEXITCODE
    }
    finally {
        $ErrorActionPreference = $previous
    }
    foreach ($line in $output) { Write-Log ('  ' + $line) }
    if ($code -ne 0) { throw ('{0} exited with code {1}' -f (Split-Path $FilePath -Leaf), $code) }
}

function Invoke-Tentacle([string[]] $Arguments) {
    Invoke-Logged -FilePath $TentacleExe -Arguments ($Arguments + @('--instance', $TentacleInstance, '--console'))
}

function Read-Settings {
    if (-not (Test-Path -LiteralPath $SettingsPath)) { throw "settings file $SettingsPath is missing" }
    $loaded = Import-PowerShellDataFile -LiteralPath $SettingsPath
    foreach ($name in $RequiredSettings) {
        if (-not $loaded.ContainsKey($name) -or -not $loaded[$name]) { throw "setting $name is missing or empty" }
    }
    $script:Settings = $loaded
    Write-Log ('infrastructure {0}; server {1}, space {2}, environment {3}, tenant {4}, roles {5}' -f
        $loaded.InfrastructureVersion, $loaded.ServerUrl, $loaded.Space, $loaded.Environment, $loaded.Tenant,
        ($loaded.Roles -join ' '))
}

function Get-Metadata([string] $Path) {
    $token = Invoke-RestMethod -Method Put -Uri "$Imds/api/token" -TimeoutSec 5 -UseBasicParsing `
        -Headers @{ 'X-aws-ec2-metadata-token-ttl-seconds' = '60' }
    Invoke-RestMethod -Uri "$Imds/meta-data/$Path" -Headers @{ 'X-aws-ec2-metadata-token' = $token } -TimeoutSec 5 -UseBasicParsing
}

function Read-Metadata {
    $instanceId = Get-Metadata 'instance-id'
    $region = Get-Metadata 'placement/region'
    if ($instanceId -notlike 'i-*') { throw "instance metadata returned an odd instance id '$instanceId'" }
    $script:InstanceId = $instanceId
    $script:Region = $region
    if ($region -ne $script:Settings.Region) {
        Write-Log ('WARNING: rendered for {0} but running in {1}; using {1}' -f $script:Settings.Region, $region)
    }
    Write-Log "instance $instanceId in $region"
}

function Read-RegistrationKey {
    $name = $script:Settings.RegistrationKeyParameter
    $parameter = Get-SSMParameter -Name $name -WithDecryption $true -Region $script:Region
    if (-not $parameter.Value) { throw "SSM parameter $name is empty" }
    $script:RegistrationKey = $parameter.Value
    Write-Log "read the registration key from SSM parameter $name"
}

function Install-Tentacle {
    if (Test-Path -LiteralPath $TentacleExe) {
        Write-Log 'Tentacle already installed'
        return
    }
    $msi = Join-Path $StateDir 'Octopus.Tentacle.msi'
    $msiLog = Join-Path $StateDir 'tentacle-install.log'
    Write-Log "downloading $($script:Settings.TentaclePackageSource)"
    Invoke-WebRequest -Uri $script:Settings.TentaclePackageSource -OutFile $msi -UseBasicParsing -TimeoutSec 600
    $process = Start-Process -FilePath 'msiexec.exe' -Wait -PassThru `
        -ArgumentList @('/i', "`"$msi`"", '/quiet', '/norestart', '/l*v', "`"$msiLog`"")
    if ($process.ExitCode -notin @(0, 3010)) { throw "the Tentacle MSI failed with exit code $($process.ExitCode); see $msiLog" }
    if (-not (Test-Path -LiteralPath $TentacleExe)) { throw "the Tentacle MSI did not install $TentacleExe" }
}

function Set-TentacleConfiguration {
    $config = Join-Path $TentacleHome 'Tentacle.config'
    if (-not (Test-Path -LiteralPath $config)) {
        Invoke-Tentacle @('create-instance', '--config', $config)
    }
    Invoke-Tentacle @('new-certificate', '--if-blank')
    Invoke-Tentacle @('configure', '--reset-trust')
    # Polling: instances in private subnets cannot be reached by the server.
    Invoke-Tentacle @('configure', '--home', $TentacleHome, '--app', (Join-Path $TentacleHome 'Applications'),
        '--noListen', 'True')
}

function Register-Tentacle([string] $MachineName) {
    $s = $script:Settings
    $roleArguments = @()
    foreach ($role in @($s.Roles)) { $roleArguments += @('--role', $role) }
    Write-Log "registering $MachineName"
    Invoke-Tentacle (@('register-with', '--server', $s.ServerUrl, '--apiKey', $script:RegistrationKey,
            '--space', $s.Space, '--name', $MachineName, '--environment', $s.Environment) + $roleArguments +
        @('--tenant', $s.Tenant, '--tenanted-deployment-participation', 'Tenanted', '--policy', $s.MachinePolicy,
            '--comms-style', 'TentacleActive', '--server-comms-port', $ServerCommsPort))
    $script:RegistrationKey = ''
    Set-Content -LiteralPath (Join-Path $StateDir 'registered') -Value $MachineName -Encoding UTF8
}

# The project trigger deploys to the new machine; the app's health says when it landed.
function Wait-Health {
    $url = $script:Settings.HealthUrl
    $timeout = [int] $script:Settings.HealthTimeoutSeconds
    $interval = [int] $script:Settings.HealthIntervalSeconds
    $deadline = [DateTime]::UtcNow.AddSeconds($timeout)
    $wanted = 'HTTP ' + $script:Settings.HealthyStatusCodes
    $last = -1
    $checks = 0
    Write-Log "waiting up to ${timeout}s for $wanted from $url"
    while ($true) {
        $checks++
        $code = 0
        try {
            $code = [int] (Invoke-WebRequest -Uri $url -UseBasicParsing -TimeoutSec $interval -MaximumRedirection 0).StatusCode
        }
        catch {
            $response = $_.Exception.PSObject.Properties['Response']
            if ($response -and $response.Value) { $code = [int] $response.Value.StatusCode }
        }
        # A code the load balancer accepts too: '200', '200,204' or '200-299' (bootstrap/health.py).
        if ("$($script:Settings.HealthyStatusCodes)".Split(',') | Where-Object {
                $bounds = $_.Split('-'); $code -ge $bounds[0] -and $code -le $bounds[-1] }) {
            Write-Log "healthy: HTTP $code after $checks checks"
            return
        }
        if ($code -ne $last) {
            Write-Log "not healthy yet: HTTP $code"
            $last = $code
        }
        if ([DateTime]::UtcNow -ge $deadline) { throw "no $wanted from $url within ${timeout}s (last HTTP $code)" }
        Send-Heartbeat
        Start-Sleep -Seconds $interval
    }
}

# Completes the launch lifecycle action once per instance; returns whether it was sent or already done.
function Send-LifecycleSignal([string] $Result) {
    $script:Step = 'signal'
    $marker = Join-Path $StateDir 'lifecycle-action'
    if (Test-Path -LiteralPath $marker) {
        Write-Log ('lifecycle action already completed ({0}); not signalling {1}' -f (Get-Content -LiteralPath $marker -Raw).Trim(), $Result)
        return $true
    }
    if (-not $script:InstanceId -or -not $script:Settings) {
        Write-Log "cannot signal $Result without the instance id; the hook's heartbeat timeout abandons the launch"
        return $false
    }
    $s = $script:Settings
    Write-Log "complete-lifecycle-action $Result (group $($s.AsgName), hook $($s.LifecycleHookName))"
    try {
        Complete-ASLifecycleAction -AutoScalingGroupName $s.AsgName -LifecycleHookName $s.LifecycleHookName `
            -InstanceId $script:InstanceId -LifecycleActionResult $Result -Region $script:Region | Out-Null
    }
    catch {
        Write-Log "ERROR: complete-lifecycle-action $Result failed: $($_.Exception.Message)"
        return $false
    }
    Set-Content -LiteralPath $marker -Value $Result -Encoding UTF8
    return $true
}

# A task: it outlives this run, restarts after a failure and a reboot, and never runs twice at once.
function Register-TerminationWatch {
    $arguments = '-NoProfile -NonInteractive -ExecutionPolicy Bypass -File "{0}" -SettingsPath "{1}" -WatchTermination' -f
        $PSCommandPath, $SettingsPath
    $forever = New-ScheduledTaskSettingsSet -ExecutionTimeLimit ([TimeSpan]::Zero) -RestartCount 3 `
        -RestartInterval (New-TimeSpan -Minutes 1)
    Register-ScheduledTask -TaskName $WatchTask -Action (New-ScheduledTaskAction -Execute 'powershell.exe' -Argument $arguments) `
        -Trigger (New-ScheduledTaskTrigger -AtStartup) -Settings $forever -User 'SYSTEM' -RunLevel Highest -Force | Out-Null
    Start-ScheduledTask -TaskName $WatchTask
}

# Deletes this Tentacle's machine once Auto Scaling terminates the instance, then lets the termination
# go on; a failed deletion never holds the instance (the machine policy's clean-up is left).
function Watch-Termination {
    $script:Step = 'termination watch'
    Read-Settings
    Read-Metadata
    Write-Log 'watching the target lifecycle state every 5s'
    # InService, Terminated, Standby, Detached or Warmed:*: where Auto Scaling is taking the instance.
    while ($true) {
        try { if ((Get-Metadata 'autoscaling/target-lifecycle-state') -eq 'Terminated') { break } } catch { }
        Start-Sleep -Seconds 5
    }
    $script:Step = 'deregister'
    Write-Log 'Auto Scaling is terminating this instance'
    $s = $script:Settings
    try {
        Read-RegistrationKey
        Invoke-Tentacle @('deregister-from', '--server', $s.ServerUrl, '--apiKey', $script:RegistrationKey, '--space', $s.Space)
        Write-Log "deleted this instance's machine from Octopus"
    }
    catch {
        Write-Log "WARNING: could not delete this instance's machine ($($_.Exception.Message)); the machine policy will"
    }
    finally { $script:RegistrationKey = '' }
    Write-Log "complete-lifecycle-action CONTINUE (group $($s.AsgName), hook $($s.TerminationHookName))"
    Complete-ASLifecycleAction -AutoScalingGroupName $s.AsgName -LifecycleHookName $s.TerminationHookName `
        -InstanceId $script:InstanceId -LifecycleActionResult 'CONTINUE' -Region $script:Region | Out-Null
    Write-Log 'termination watch complete'
}

New-Item -ItemType Directory -Force -Path $StateDir | Out-Null
if ($WatchTermination) {
    try { Watch-Termination; exit 0 }
    catch {
        Write-Log ("FAILED in step '{0}': {1}" -f $script:Step, $_.Exception.Message)
        exit 1
    }
}
$lock = New-Object System.Threading.Mutex($false, 'Global\PhoenixBootstrap')
try { $acquired = $lock.WaitOne(0) } catch [System.Threading.AbandonedMutexException] { $acquired = $true }
if (-not $acquired) {
    Write-Log 'another bootstrap is running on this instance; leaving it alone'
    exit 75
}
$result = 'ABANDON'
$exitCode = 1
try {
    Enter-Step 'settings'
    Read-Settings
    Enter-Step 'instance metadata'
    Read-Metadata
    $registered = Join-Path $StateDir 'registered'
    if (Test-Path -LiteralPath $registered) {
        Write-Log ('Tentacle already registered as {0}; not registering again' -f (Get-Content -LiteralPath $registered -Raw).Trim())
        Enter-Step 'tentacle install'
        Install-Tentacle
    }
    else {
        Enter-Step 'registration key'
        Read-RegistrationKey
        Enter-Step 'tentacle install'
        Install-Tentacle
        Enter-Step 'tentacle configure'
        Set-TentacleConfiguration
        Enter-Step 'tentacle register'
        Register-Tentacle -MachineName ('{0}-{1}' -f $script:Settings.MachineNamePrefix, $script:InstanceId)
    }
    Enter-Step 'tentacle service'
    Invoke-Tentacle @('service', '--install', '--start')
    Enter-Step 'termination watch'
    Register-TerminationWatch
    Enter-Step 'health'
    Wait-Health
    $result = 'CONTINUE'
    $exitCode = 0
}
catch {
    Write-Log ("FAILED in step '{0}': {1}" -f $script:Step, $_.Exception.Message)
}
finally {
    $script:RegistrationKey = ''
    if (-not (Send-LifecycleSignal -Result $result)) { $exitCode = 1 }
    if ($exitCode -eq 0) { Write-Log 'bootstrap complete' }
    $lock.ReleaseMutex()
}
exit $exitCode
