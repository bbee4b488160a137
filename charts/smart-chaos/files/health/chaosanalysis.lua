-- Argo CD health check for chaos.smartchaos.io/ChaosAnalysis. It reads the same status that
-- kstatus (Flux) reads: observedGeneration, and the Stalled, Reconciling and Ready conditions.
local hs = {status = "Progressing", message = "Waiting for the operator to analyse this analysis"}
if obj.status == nil then
  return hs
end
local generation = obj.metadata.generation
local observed = obj.status.observedGeneration
if generation ~= nil and observed ~= nil and observed ~= generation then
  hs.message = "The operator has not analysed generation " .. generation .. " yet"
  return hs
end
local function condition(kind)
  if obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end
local stalled = condition("Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = stalled.message
  return hs
end
local reconciling = condition("Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.message = reconciling.message
  return hs
end
local ready = condition("Ready")
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message
  -- A model that failed leaves the built-in results standing: healthy, and the message says so.
  local degraded = condition("Degraded")
  if degraded ~= nil and degraded.status == "True" then
    hs.message = ready.message .. "; " .. degraded.message
  end
  return hs
end
if ready ~= nil then
  hs.message = ready.message
end
return hs
