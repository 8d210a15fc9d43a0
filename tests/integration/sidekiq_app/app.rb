# A Rack app as a Rails app would mount it: Sidekiq::Web at /sidekiq, the common hand-written
# stats endpoint at /sidekiq_queues, and test-only controls to enqueue jobs and clear retries.
require "json"
require "rack"
require "rack/handler/webrick"
require "sidekiq"
require "sidekiq/api"
require "sidekiq/web"
require_relative "jobs"

Sidekiq.configure_client { |c| c.redis = { url: ENV.fetch("REDIS_URL") } }

handwritten = lambda do |_env|
  stats = Sidekiq::Stats.new
  body = { enqueued: stats.enqueued, queues: stats.queues, retries: stats.retry_size }
  [200, { "Content-Type" => "application/json" }, [JSON.generate(body)]]
end

control = lambda do |env|
  req = Rack::Request.new(env)
  case req.path_info
  when "/enqueue"
    count = Integer(req.params.fetch("count", "1"))
    count.times { |i| FailingJob.perform_async(i) }
  when "/clear_retries"
    Sidekiq::RetrySet.new.clear
  when "/clear_all"
    [Sidekiq::RetrySet, Sidekiq::ScheduledSet, Sidekiq::DeadSet].each { |set| set.new.clear }
    Sidekiq::Queue.all.each(&:clear)
  when "/schedule"
    Integer(req.params.fetch("count", "1")).times { |i| FailingJob.perform_in(3600, i) }
  when "/kill"
    Sidekiq::RetrySet.new.first(Integer(req.params.fetch("count", "1"))).each(&:kill)
  when "/park"
    queue = req.params.fetch("queue", "parked")
    Integer(req.params.fetch("count", "1")).times { |i| Sidekiq::Client.push("class" => "FailingJob", "queue" => queue, "args" => [i]) }
  when "/slow"
    SlowJob.perform_async(Float(req.params.fetch("seconds", "5")))
  when "/latency"
    latency = Sidekiq::Queue.new(req.params.fetch("queue", "default")).latency
    return [200, { "Content-Type" => "application/json" }, [JSON.generate(latency: latency)]]
  else
    return [404, {}, ["unknown control"]]
  end
  [200, { "Content-Type" => "text/plain" }, ["ok"]]
end

app = Rack::Builder.new do
  use Rack::Session::Cookie, secret: "x" * 64, same_site: true, max_age: 86400
  map("/sidekiq") { run Sidekiq::Web }
  map("/sidekiq_queues") { run handwritten }
  map("/control") { run control }
end

Rack::Handler::WEBrick.run(app, Host: "127.0.0.1", Port: Integer(ENV.fetch("PORT")),
                           AccessLog: [], Logger: WEBrick::Log.new($stderr, WEBrick::Log::WARN))
