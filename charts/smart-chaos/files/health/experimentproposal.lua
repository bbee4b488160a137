-- Argo CD health check for chaos.smartchaos.io/ExperimentProposal: a proposal waiting for a
-- person is Suspended, an approved one Progressing until its run ends; a run whose steady state
-- broke (Paused, verdict Refuted) or that could not start (Failed) is Degraded.
local hs = {status = "Suspended", message = "Waiting for approval: nothing runs until a person approves"}
local state = "Pending"
if obj.spec ~= nil and obj.spec.approval ~= nil and obj.spec.approval.state ~= nil then
  state = obj.spec.approval.state
end
if state == "Rejected" then
  hs.status = "Healthy"
  hs.message = "Rejected: the experiment never runs"
  return hs
end
if state ~= "Approved" then
  return hs
end
local phase = nil
local message = nil
if obj.status ~= nil then
  phase = obj.status.phase
  message = obj.status.message
end
if phase == "Completed" then
  hs.status = "Healthy"
  hs.message = message or "Completed: the steady state held"
elseif phase == "Paused" or phase == "Failed" then
  hs.status = "Degraded"
  hs.message = message or phase
else
  hs.status = "Progressing"
  hs.message = message or "Approved: the experiment is starting or running"
end
return hs
